// The dashboard shell and its stylesheet. Served with a strict CSP: no inline script or style, nothing external.

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Self-healing</title>
<link rel="stylesheet" href="/ui/app.css">
<script src="/ui/app.js" defer></script>
</head>
<body>
<header>
  <h1><a href="#/incidents">Self-healing</a></h1>
  <nav id="nav" hidden>
    <a href="#/incidents" data-nav="incidents">Incidents</a>
    <a href="#/rules" data-nav="rules">Rules</a>
    <a href="#/jobs" data-nav="jobs">Jobs</a>
    <a href="#/environments" data-nav="environments">Environments</a>
  </nav>
  <button id="logout" type="button" hidden>Sign out</button>
</header>
<div id="flash" role="status" hidden></div>
<main id="main"><p class="muted">Loading…</p></main>
<noscript>The dashboard needs JavaScript.</noscript>
</body>
</html>
`;

export const DASHBOARD_CSS = `
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:20px;align-items:center;flex-wrap:wrap}
header h1{font-size:18px;margin:0}
header a{color:#fff;text-decoration:none}
nav{display:flex;gap:4px;flex:1}
nav a{padding:5px 12px;border-radius:4px}
nav a.active,nav a:hover{background:#39425a}
main{max-width:1200px;margin:0 auto;padding:16px 20px 60px}
h2{margin:8px 0 12px}
h3{margin:22px 0 8px}
a{color:#2160a8}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d7dbe2}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #eef0f3;vertical-align:top}
th{background:#eef0f3;font-weight:600;font-size:12px;text-transform:uppercase;color:#5d6677}
tr.clickable{cursor:pointer}
tr.clickable:hover td{background:#f3f7fd}
pre{background:#0f1420;color:#d8e0ee;padding:10px;border-radius:4px;overflow:auto;max-height:360px;font-size:12px;margin:6px 0}
textarea{width:100%;min-height:320px;font:12px/1.4 monospace;padding:8px;border:1px solid #c5cbd6;border-radius:4px}
textarea.small{min-height:160px}
input[type=text],input[type=password],select{padding:6px 8px;border:1px solid #c5cbd6;border-radius:4px;font:inherit}
button{padding:6px 14px;border-radius:4px;border:1px solid #1d2330;background:#1d2330;color:#fff;cursor:pointer;font:inherit}
button.secondary{background:#fff;color:#1d2330}
button.approve{background:#2a9d5c;border-color:#2a9d5c}
button.reject{background:#c23b3b;border-color:#c23b3b}
button:disabled{opacity:.5;cursor:default}
header button{background:transparent;border-color:#8a93a8}
.row{display:flex;gap:10px;align-items:center;flex-wrap:wrap;margin:8px 0}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:16px}
@media (max-width:900px){.grid{grid-template-columns:1fr}}
.card{background:#fff;border:1px solid #d7dbe2;border-radius:6px;padding:12px 16px;margin:10px 0}
.muted{color:#5d6677}
.error{color:#b42323;white-space:pre-wrap}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;background:#e4e7ec;color:#39425a}
.b-triggered,.b-failed,.b-open,.b-offline,.b-rejected,.b-timed_out{background:#fde2e2;color:#9b1c1c}
.b-acknowledged,.b-awaiting_approval,.b-running,.b-pending,.b-skipped,.b-dry_run,.b-paused{background:#fdf0d5;color:#8a5a00}
.b-resolved,.b-succeeded,.b-online,.b-closed,.b-run,.b-completed,.b-enabled{background:#dcf3e5;color:#17663a}
.timeline{list-style:none;margin:0;padding:0 0 0 18px;border-left:3px solid #d7dbe2}
.timeline li{position:relative;margin:0 0 12px;background:#fff;border:1px solid #d7dbe2;border-radius:6px;padding:8px 12px}
.timeline li::before{content:"";position:absolute;left:-27px;top:12px;width:12px;height:12px;border-radius:50%;background:#8a93a8;border:2px solid #f6f7f9}
.timeline li.t-match::before{background:#2160a8}
.timeline li.t-action::before{background:#2a9d5c}
.timeline li.t-approval{border-color:#e0a82e;background:#fffaf0}
.timeline .when{font-size:12px;color:#5d6677;float:right}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px}
.kv dt{font-weight:600;color:#5d6677}
.kv dd{margin:0;font-family:monospace}
#flash{position:fixed;right:16px;bottom:16px;background:#1d2330;color:#fff;padding:10px 16px;border-radius:6px;max-width:480px}
#flash.bad{background:#9b1c1c}
.login{max-width:420px;margin:60px auto}
.login input{width:100%;margin:8px 0}
`;
