/** The console's HTML pages; the script, stylesheet and icon names carry their content hash. */
export interface Files {
  readonly css: string
  readonly icon: string
}

const head = (title: string, { css, icon }: Files) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<link rel="icon" href="${icon}" type="image/svg+xml">
<link rel="stylesheet" href="${css}">
</head>`

export const cluster = (files: Files, script: string) => `${head("swarm cluster", files)}
<body>
<header>
<h1>Cluster <code id="cluster" class="token" title="the cluster's token, shortened">…</code></h1>
<button id="copy" type="button" title="Copy the full token to the clipboard">Copy token</button>
<p id="status" class="status" role="status">connecting…</p>
<nav><a id="to-overview" href="/ui/">Operator overview</a></nav>
</header>
<main>
<section>
<h2>Members <span id="count"></span></h2>
<p class="meta">X-Discovery-Index <code id="index">–</code> · checked <span id="checked">–</span> · <span id="access">–</span></p>
<table id="members">
<colgroup><col class="w-address"><col class="w-time"><col class="w-time"><col class="w-num"></colgroup>
<thead><tr><th>address</th><th>last registration</th><th>expires in</th><th class="num">ttl</th></tr></thead>
<tbody></tbody>
</table>
<p id="empty" class="meta" hidden>No live members. Any 32-hex token names a cluster, so an unknown or mistyped token
shows as an empty one: check it against what <code>swarm create</code> printed.</p>
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

export const overview = (files: Files, script: string) => `${head("swarm serve: overview", files)}
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
<table id="bounds"><colgroup><col class="w-bound"><col class="w-num"><col class="w-num"><col class="w-bar"><col class="w-num"></colgroup><thead><tr><th>bound</th><th class="num">used</th><th class="num">limit</th><th>how close</th><th class="num">refused</th></tr></thead><tbody></tbody></table>
</section>
<section>
<h2>Clusters <span id="cluster-count"></span></h2>
<table id="clusters"><colgroup><col class="w-token"><col class="w-num"><col class="w-last"><col class="w-action"></colgroup><thead><tr><th>cluster</th><th class="num">entries</th><th>last registration</th><th></th></tr></thead><tbody></tbody></table>
<p id="no-clusters" class="meta" hidden>No cluster has live entries.</p>
</section>
<section>
<h2>Requests</h2>
<table id="routes"><colgroup><col class="w-route"><col class="w-num"><col class="w-num"><col class="w-num"><col class="w-mean"><col class="w-mean"></colgroup><thead><tr><th>route</th><th class="num">2xx</th><th class="num">4xx</th><th class="num">5xx</th><th class="num">mean latency</th><th class="num">mean long-poll wait</th></tr></thead><tbody></tbody></table>
<p class="meta">A long-poll (<code>watch</code>) waits for a change by design, up to its <code>wait</code>: that time is shown as its wait, not as latency.</p>
</section>
</div>
</main>
<script src="${script}" defer></script>
</body>
</html>
`

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/** A console page that could not be shown (a malformed token, an unknown page), with the way back. */
export const problem = (
  files: Files,
  status: number,
  message: string
) => `${head(`swarm console: ${status}`, files)}
<body class="problem">
<header>
<h1>Cannot show this page</h1>
<p class="status error" role="status">${status}</p>
</header>
<main>
<section>
<h2 id="problem-message">${escape(message)}</h2>
<p>A cluster's page is <code>/ui/clusters/&lt;token&gt;</code>, with the 32 hexadecimal characters that
<code>swarm create</code> printed (or the cluster's read-only token).</p>
<p><a id="back" href="/ui/">Back to the operator overview</a> (when the server has an admin token).</p>
</section>
</main>
</body>
</html>
`
