/** The console's one stylesheet. */
export const css = `:root{color-scheme:light dark;--fg:#1d2330;--muted:#5f6b7a;--bg:#fff;--panel:#f4f6f9;--line:#dde2ea;--ok:#17803d;--warn:#b45309;--bad:#b91c1c;--accent:#2557d6}
@media (prefers-color-scheme:dark){:root{--fg:#e6e9ef;--muted:#9aa5b4;--bg:#12161d;--panel:#1b212b;--line:#2c3440;--ok:#4ade80;--warn:#fbbf24;--bad:#f87171;--accent:#7aa2ff}}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{padding:14px 24px;border-bottom:1px solid var(--line);display:flex;flex-wrap:wrap;gap:8px 24px;align-items:baseline}
h1{font-size:20px;margin:0}h2{font-size:16px;margin:0 0 8px}
main{padding:16px 24px;display:grid;gap:20px;max-width:1100px}
section{background:var(--panel);border:1px solid var(--line);border-radius:8px;padding:14px 16px}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:13px}
table{border-collapse:collapse;width:100%;table-layout:fixed}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top;overflow-wrap:anywhere}
col.w-address{width:49%}col.w-time{width:20%}col.w-num{width:11%}col.w-bound{width:46%}col.w-bar{width:21%}
col.w-token{width:30%}col.w-last{width:43%}col.w-action{width:16%}col.w-route{width:25%}col.w-mean{width:21%}
#app{display:grid;gap:20px}
header nav{margin-left:auto}
code.token{font-size:18px;letter-spacing:.04em}
[data-figure].bad{border-color:var(--bad)}
button:disabled{opacity:.45;cursor:not-allowed}
.offscreen{position:fixed;left:-9999px;top:0}
th{font-weight:600;color:var(--muted);font-size:13px}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.meta{color:var(--muted);margin:0 0 8px;font-size:13px}
.status{margin:0;padding:3px 10px;border-radius:99px;font-size:13px;background:var(--panel);border:1px solid var(--line)}
.status.live{color:var(--ok)}.status.down{color:#fff;background:var(--bad);border-color:var(--bad)}
.status.error{color:var(--bad)}
.soon{color:var(--warn);font-weight:600}.gone{color:var(--bad);font-weight:600}
body.offline main{opacity:.55}
ol.changes{list-style:none;margin:0;padding:0;max-height:320px;overflow:auto}
ol.changes li{padding:3px 0;border-bottom:1px dashed var(--line)}
.join{color:var(--ok);font-weight:600}.leave{color:var(--muted);font-weight:600}.expire{color:var(--bad);font-weight:600}
dl.totals{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px;margin:0}
dl.totals div{background:var(--bg);border:1px solid var(--line);border-radius:6px;padding:8px 10px}
dt{color:var(--muted);font-size:12px}dd{margin:0;font-size:20px;font-variant-numeric:tabular-nums}
.bar{height:8px;background:var(--bg);border:1px solid var(--line);border-radius:4px;min-width:120px;overflow:hidden}
.bar span{display:block;height:100%;background:var(--accent)}
.bar.warn span{background:var(--warn)}.bar.bad span{background:var(--bad)}
form.login{display:flex;gap:8px;flex-wrap:wrap;align-items:center}
input{font:inherit;padding:6px 8px;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--fg);min-width:280px}
button{font:inherit;padding:5px 12px;border:1px solid var(--line);border-radius:6px;background:var(--bg);color:var(--fg);cursor:pointer}
button.danger{color:var(--bad);border-color:var(--bad)}
a{color:var(--accent)}
.error{color:var(--bad)}
[hidden]{display:none!important}
`
