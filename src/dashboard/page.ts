// The dashboard's HTML shell: the header the client fills (nav links come from its route registry), the
// main area and the flash box. It holds no data and no inline script or style (the CSP forbids both); the
// script and stylesheet are the bundle's content-hashed assets.

/** The shell referencing the bundle's assets by URL. */
export function dashboardHtml(assets: { script: string; stylesheet: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Self-healing</title>
<link rel="stylesheet" href="${assets.stylesheet}">
<script src="${assets.script}" defer></script>
</head>
<body>
<header>
  <h1><a href="#/incidents">Self-healing</a></h1>
  <nav id="nav" hidden></nav>
  <span id="user" data-testid="user" hidden></span>
  <button id="logout" type="button" hidden>Sign out</button>
</header>
<div id="flash" role="status" hidden></div>
<main id="main"><p class="muted">Loading…</p></main>
<noscript>The dashboard needs JavaScript.</noscript>
</body>
</html>
`;
}
