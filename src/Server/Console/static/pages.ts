/** The console's two HTML pages; the script and stylesheet names carry their content hash. */
const head = (title: string, css: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<link rel="stylesheet" href="${css}">
</head>`

export const cluster = (css: string, script: string) => `${head("swarm cluster", css)}
<body>
<header>
<h1>Cluster <code id="cluster">…</code></h1>
<p id="status" class="status" role="status">connecting…</p>
</header>
<main>
<section>
<h2>Members <span id="count"></span></h2>
<p class="meta">X-Discovery-Index <code id="index">–</code> · checked <span id="checked">–</span> · <span id="access">–</span></p>
<table id="members">
<thead><tr><th>address</th><th>last registration</th><th>expires in</th><th class="num">ttl</th></tr></thead>
<tbody></tbody>
</table>
<p id="empty" class="meta" hidden>No live members.</p>
</section>
<section>
<h2>Recent changes</h2>
<p class="meta">Joins and leaves seen since this page opened (times are the server's).</p>
<ol id="changes" class="changes"></ol>
</section>
</main>
<script src="${script}" defer></script>
</body>
</html>
`

export const overview = (css: string, script: string) => `${head("swarm serve: overview", css)}
<body>
<header>
<h1>swarm serve · overview</h1>
<p id="status" class="status" role="status">locked</p>
<button id="logout" type="button" hidden>Forget the admin token</button>
</header>
<main>
<section id="login">
<h2>Admin token</h2>
<form id="login-form" class="login">
<input id="token" type="password" autocomplete="off" placeholder="the server's SWARM_ADMIN_TOKEN" aria-label="admin token" required>
<button type="submit">Open</button>
</form>
<p class="meta">Kept in this tab only (sessionStorage), sent as Authorization: Bearer.</p>
<p id="login-error" class="error" role="alert"></p>
</section>
<div id="app" hidden>
<section>
<h2>Totals</h2>
<dl id="totals" class="totals"></dl>
</section>
<section>
<h2>Bounds</h2>
<table id="bounds"><thead><tr><th>bound</th><th class="num">used</th><th class="num">limit</th><th>how close</th><th class="num">refused</th></tr></thead><tbody></tbody></table>
</section>
<section>
<h2>Clusters <span id="cluster-count"></span></h2>
<table id="clusters"><thead><tr><th>cluster</th><th class="num">entries</th><th>last registration</th><th></th></tr></thead><tbody></tbody></table>
<p id="no-clusters" class="meta" hidden>No cluster has live entries.</p>
</section>
<section>
<h2>Requests</h2>
<table id="routes"><thead><tr><th>route</th><th class="num">2xx</th><th class="num">4xx</th><th class="num">5xx</th><th class="num">mean</th></tr></thead><tbody></tbody></table>
</section>
</div>
</main>
<script src="${script}" defer></script>
</body>
</html>
`
