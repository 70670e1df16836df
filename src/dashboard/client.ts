// The dashboard's browser code: vanilla JS, no dependencies, served as /ui/app.js. It only talks to
// this API (same origin). The bearer token lives in sessionStorage (gone when the tab closes).
// Kept as a raw string: no backtick or dollar-brace inside.

export const DASHBOARD_JS = String.raw`
(function () {
  'use strict';
  var TOKEN_KEY = 'selfheal-token';
  var main = document.getElementById('main');
  var nav = document.getElementById('nav');
  var logout = document.getElementById('logout');
  var flashBox = document.getElementById('flash');
  var config = { temporalUiUrl: '', namespace: 'default' };
  var timer = null;
  var generation = 0;

  // ---- helpers -------------------------------------------------------------------------------------
  function h(tag, attrs) {
    var e = document.createElement(tag);
    attrs = attrs || {};
    Object.keys(attrs).forEach(function (k) {
      var v = attrs[k];
      if (v === undefined || v === null || v === false) return;
      if (k === 'text') e.textContent = String(v);
      else if (k.slice(0, 2) === 'on') e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : String(v));
    });
    for (var i = 2; i < arguments.length; i++) append(e, arguments[i]);
    return e;
  }
  function append(e, c) {
    if (c === undefined || c === null || c === false) return;
    if (Array.isArray(c)) { c.forEach(function (x) { append(e, x); }); return; }
    e.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
  function badge(value, testid) {
    var v = String(value === undefined || value === null ? '' : value);
    return h('span', { class: 'badge b-' + v.replace(/[^a-z_]/gi, '_'), 'data-testid': testid }, v);
  }
  function when(t) {
    if (!t) return '';
    var d = new Date(t);
    return isNaN(d.getTime()) ? String(t) : d.toLocaleString();
  }
  function pretty(v) { return JSON.stringify(v, null, 2); }
  function ext(href, label, testid) {
    if (!href) return null;
    return h('a', { href: href, target: '_blank', rel: 'noopener noreferrer', 'data-testid': testid }, label);
  }
  function temporalLink(path) {
    return config.temporalUiUrl + '/namespaces/' + encodeURIComponent(config.namespace) + path;
  }
  function flash(text, bad) {
    flashBox.textContent = text;
    flashBox.className = bad ? 'bad' : '';
    flashBox.hidden = false;
    clearTimeout(flash.t);
    flash.t = setTimeout(function () { flashBox.hidden = true; }, 4000);
  }
  function setMain() {
    main.textContent = '';
    for (var i = 0; i < arguments.length; i++) append(main, arguments[i]);
  }
  function problemText(res) {
    var b = res.body || {};
    var lines = [res.status + ' ' + (b.title || '') + (b.detail ? ': ' + b.detail : '')];
    (b.errors || []).forEach(function (e) { lines.push('  ' + e.path + ': ' + e.message); });
    return lines.join('\n');
  }

  // ---- API -------------------------------------------------------------------------------------------
  function token() { return sessionStorage.getItem(TOKEN_KEY) || ''; }
  function api(method, path, body, headers) {
    var init = { method: method, headers: Object.assign({ accept: 'application/json', authorization: 'Bearer ' + token() }, headers || {}) };
    if (body !== undefined) { init.headers['content-type'] = 'application/json'; init.body = JSON.stringify(body); }
    return fetch(path, init).then(function (res) {
      return res.text().then(function (text) {
        var parsed = null;
        try { parsed = text ? JSON.parse(text) : null; } catch (e) { parsed = text; }
        var out = { status: res.status, ok: res.ok, body: parsed, etag: res.headers.get('etag') };
        if (res.status === 401) { sessionStorage.removeItem(TOKEN_KEY); route(); throw new Error('signed out: ' + problemText(out)); }
        return out;
      });
    });
  }
  function must(res) {
    if (!res.ok) throw new Error(problemText(res));
    return res.body;
  }
  function failure(err) {
    setMain(h('p', { class: 'error', 'data-testid': 'error' }, String(err && err.message || err)));
  }

  // ---- login -----------------------------------------------------------------------------------------
  function loginPage(message) {
    nav.hidden = true; logout.hidden = true;
    var input = h('input', { type: 'password', id: 'token', autocomplete: 'off', placeholder: 'Bearer token' });
    var error = h('p', { class: 'error', 'data-testid': 'login-error' }, message || '');
    var form = h('form', { class: 'card login', id: 'login', onsubmit: function (ev) {
      ev.preventDefault();
      var t = input.value.trim();
      if (!t) return;
      fetch('/api/incidents?limit=1', { headers: { authorization: 'Bearer ' + t } }).then(function (res) {
        if (res.ok) { sessionStorage.setItem(TOKEN_KEY, t); if (location.hash === '#/login' || !location.hash) location.hash = '#/incidents'; else route(); }
        else error.textContent = res.status === 401 || res.status === 403 ? 'That token is not accepted (' + res.status + ').' : 'The API answered ' + res.status + '.';
      }, function (e) { error.textContent = 'Cannot reach the API: ' + e.message; });
    } },
      h('h2', {}, 'Sign in'),
      h('p', { class: 'muted' }, 'Paste an API token (or the admin token). It is kept in this tab only.'),
      input, h('button', { type: 'submit' }, 'Sign in'), error);
    setMain(form);
    input.focus();
  }

  // ---- incidents ---------------------------------------------------------------------------------
  function incidentsPage(gen) {
    var status = new URLSearchParams(location.hash.split('?')[1] || '').get('status') || '';
    var select = h('select', { id: 'status-filter', onchange: function () { location.hash = '#/incidents' + (select.value ? '?status=' + select.value : ''); } },
      ['', 'triggered', 'acknowledged', 'resolved'].map(function (s) { return h('option', { value: s, selected: s === status }, s || 'any status'); }));
    return api('GET', '/api/incidents?limit=100' + (status ? '&status=' + status : '')).then(must).then(function (body) {
      if (gen !== generation) return;
      var rows = body.items.map(function (i) {
        return h('tr', { class: 'clickable', 'data-testid': 'incident-row', 'data-id': i.id, onclick: function () { location.hash = '#/incidents/' + encodeURIComponent(i.id); } },
          h('td', {}, h('a', { href: '#/incidents/' + encodeURIComponent(i.id) }, i.id)),
          h('td', {}, i.title || ''), h('td', {}, badge(i.status)), h('td', {}, i.service && (i.service.name || i.service.id) || ''),
          h('td', {}, i.environment && (i.environment.environment || i.environment.host) || ''), h('td', {}, when(i.createdAt)),
          h('td', {}, ext(i.temporalUrl, 'Temporal', 'temporal-link')));
      });
      setMain(h('div', { class: 'row' }, h('h2', {}, 'Incidents'), select),
        rows.length ? h('table', { 'data-testid': 'incidents' }, h('tr', {}, ['Id', 'Title', 'Status', 'Service', 'Environment', 'Created', 'Run'].map(function (t) { return h('th', {}, t); })), rows)
          : h('p', { class: 'muted' }, 'No incidents yet. PagerDuty webhooks arrive at /webhooks/pagerduty.'));
    });
  }

  function timelineItems(inc) {
    var items = [];
    inc.events.forEach(function (e) {
      items.push({ at: e.occurredAt || e.receivedAt, cls: 't-event', node: [h('strong', {}, 'PagerDuty ' + e.type), h('div', { class: 'muted' }, 'event ' + e.eventId + ', received ' + when(e.receivedAt))] });
    });
    inc.matches.forEach(function (m) {
      var exp = m.explanation || {};
      var text = typeof exp === 'string' ? exp : exp.text || exp.summary || '';
      items.push({ at: m.matchedAt, cls: 't-match', node: h('div', { 'data-testid': 'match' },
        h('strong', {}, 'Rule '), h('a', { href: '#/rules/' + encodeURIComponent(m.ruleId) }, m.ruleName), ' v' + m.ruleVersion + ' matched ', badge(m.decision, 'match-decision'),
        m.skipReason ? h('div', {}, 'skipped: ' + m.skipReason) : null,
        m.target ? h('div', { class: 'muted' }, 'target ' + m.target) : null,
        text ? h('div', {}, text) : null,
        h('details', {}, h('summary', {}, 'Why it matched'), h('pre', { 'data-testid': 'explanation' }, pretty(exp)))) });
    });
    inc.actionRuns.forEach(function (r) {
      var waiting = r.status === 'awaiting_approval';
      items.push({ at: r.startedAt || r.finishedAt || (inc.matches.filter(function (m) { return m.ruleId === r.ruleId; })[0] || {}).matchedAt, cls: 't-action' + (waiting ? ' t-approval' : ''), node: h('div', { 'data-testid': 'action-run', 'data-id': r.id },
        h('strong', {}, 'Action ' + r.actionId + ' (' + r.type + ') '), badge(r.status, 'action-status'),
        r.attempts > 1 ? h('span', { class: 'muted' }, ' ' + r.attempts + ' attempts') : null,
        r.target ? h('div', { class: 'muted' }, 'target ' + r.target) : null,
        r.exitCode !== null && r.exitCode !== undefined ? h('div', {}, 'exit code ' + r.exitCode) : null,
        r.error ? h('div', { class: 'error' }, r.error) : null,
        r.outputExcerpt ? h('pre', { 'data-testid': 'action-output' }, r.outputExcerpt) : null,
        h('div', { class: 'row' }, ext(r.link, 'Result link', 'action-link'), ext(inc.temporalUrl, 'Run in Temporal', 'action-temporal-link'),
          r.approval && !waiting ? h('span', { class: 'muted' }, (r.approval.decision || '') + ' by ' + (r.approval.actor || '?') + (r.approval.at ? ' at ' + when(r.approval.at) : '')) : null),
        waiting ? approvalButtons(inc.id, r) : null) });
    });
    items.sort(function (a, b) { return new Date(a.at || 0).getTime() - new Date(b.at || 0).getTime(); });
    return items;
  }

  function approvalButtons(incidentId, run) {
    var box = h('div', { class: 'row', 'data-testid': 'approval' }, h('strong', {}, 'Waiting for approval'));
    function decide(decision) {
      return function () {
        box.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
        api('POST', '/api/incidents/' + encodeURIComponent(incidentId) + '/approvals/' + encodeURIComponent(run.id), { decision: decision }).then(function (res) {
          if (!res.ok) { flash(problemText(res), true); box.querySelectorAll('button').forEach(function (b) { b.disabled = false; }); return; }
          flash(decision === 'approve' ? 'Approved: the action runs now.' : 'Rejected: the action is skipped.');
          box.appendChild(h('span', { 'data-testid': 'approval-sent' }, decision === 'approve' ? 'approved' : 'rejected'));
        }, function (e) { flash(e.message, true); });
      };
    }
    append(box, [h('button', { type: 'button', class: 'approve', 'data-testid': 'approve', onclick: decide('approve') }, 'Approve'),
      h('button', { type: 'button', class: 'reject', 'data-testid': 'reject', onclick: decide('reject') }, 'Reject')]);
    return box;
  }

  function incidentPage(gen, id) {
    return api('GET', '/api/incidents/' + encodeURIComponent(id)).then(function (res) {
      if (gen !== generation) return;
      if (res.status === 404) { setMain(h('p', { class: 'error' }, 'Incident ' + id + ' is not known (yet: its workflow records it within seconds).')); return; }
      var inc = must(res);
      var env = inc.environment || {};
      var waiting = inc.actionRuns.filter(function (r) { return r.status === 'awaiting_approval'; }).length;
      setMain(
        h('div', { class: 'row' }, h('a', { href: '#/incidents' }, '← Incidents')),
        h('h2', { 'data-testid': 'incident-title' }, '#' + (inc.number || '') + ' ' + (inc.title || inc.id)),
        h('div', { class: 'row' }, badge(inc.status, 'incident-status'), inc.urgency ? badge(inc.urgency) : null,
          h('span', {}, 'service ' + (inc.service.name || inc.service.id || '?')),
          ext(inc.htmlUrl, 'Open in PagerDuty', 'pd-link'), ext(inc.temporalUrl, 'Open in Temporal', 'temporal-link'),
          waiting ? h('strong', { 'data-testid': 'waiting-count' }, waiting + ' action(s) waiting for approval') : null),
        h('div', { class: 'grid' },
          h('div', { class: 'card' }, h('h3', {}, 'Environment'), Object.keys(env).length
            ? h('dl', { class: 'kv', 'data-testid': 'environment' }, Object.keys(env).map(function (k) { return [h('dt', {}, k), h('dd', {}, typeof env[k] === 'object' ? JSON.stringify(env[k]) : String(env[k]))]; }))
            : h('p', { class: 'muted' }, 'Nothing extracted.')),
          h('div', { class: 'card' }, h('h3', {}, 'Details'), h('dl', { class: 'kv' },
            h('dt', {}, 'Id'), h('dd', {}, inc.id), h('dt', {}, 'Created'), h('dd', {}, when(inc.createdAt)),
            h('dt', {}, 'Last event'), h('dd', {}, when(inc.lastEventAt)), h('dt', {}, 'Resolved'), h('dd', {}, when(inc.resolvedAt)),
            h('dt', {}, 'Workflow'), h('dd', {}, inc.workflowId)),
            inc.description ? h('p', {}, inc.description) : null)),
        h('h3', {}, 'Timeline'),
        h('ol', { class: 'timeline', 'data-testid': 'timeline' }, timelineItems(inc).map(function (it) { return h('li', { class: it.cls }, h('span', { class: 'when' }, when(it.at)), it.node); })));
      // Keep the page live while work is pending.
      var pending = inc.actionRuns.some(function (r) { return !r.finishedAt; }) || inc.status !== 'resolved';
      if (pending) timer = setTimeout(function () { if (gen === generation) incidentPage(gen, id).catch(failure); }, 2000);
    });
  }

  // ---- rules ---------------------------------------------------------------------------------------
  var READ_ONLY = ['id', 'version', 'breaker', 'createdAt', 'updatedAt', 'deletedAt'];
  function definitionOf(rule) {
    var out = {};
    Object.keys(rule).forEach(function (k) { if (READ_ONLY.indexOf(k) < 0) out[k] = rule[k]; });
    return out;
  }
  function convert(text, from, to) {
    if (from === to) return Promise.resolve(text);
    if (from === 'json' && to === 'object') return Promise.resolve(JSON.parse(text));
    return api('POST', '/ui/convert', { text: text, from: from, to: to }).then(must).then(function (b) { return to === 'object' ? b.value : b.text; });
  }
  function parseEditor(text, format) {
    if (format === 'json') {
      try { return Promise.resolve(JSON.parse(text)); } catch (e) { return Promise.reject(new Error('not valid JSON: ' + e.message)); }
    }
    return convert(text, 'yaml', 'object');
  }

  function rulesPage(gen) {
    return api('GET', '/api/rules').then(must).then(function (body) {
      if (gen !== generation) return;
      var rows = body.items.map(function (r) {
        return h('tr', { class: 'clickable', 'data-testid': 'rule-row', onclick: function () { location.hash = '#/rules/' + encodeURIComponent(r.id); } },
          h('td', {}, h('a', { href: '#/rules/' + encodeURIComponent(r.id) }, r.name)), h('td', {}, 'v' + r.version),
          h('td', {}, badge(r.enabled ? 'enabled' : 'disabled')), h('td', {}, r.dryRun ? badge('dry_run') : ''),
          h('td', {}, badge(r.breaker && r.breaker.state || '')), h('td', {}, (r.services || []).join(', ') || 'all'),
          h('td', {}, (r.actions || []).map(function (a) { return a.type; }).join(', ')));
      });
      setMain(h('div', { class: 'row' }, h('h2', {}, 'Rules'), h('a', { href: '#/rules/new', 'data-testid': 'new-rule' }, h('button', { type: 'button' }, 'New rule'))),
        rows.length ? h('table', { 'data-testid': 'rules' }, h('tr', {}, ['Name', 'Version', 'State', 'Mode', 'Breaker', 'Services', 'Actions'].map(function (t) { return h('th', {}, t); })), rows)
          : h('p', { class: 'muted' }, 'No rules yet.'));
    });
  }

  var SAMPLE_RULE = { name: 'my-rule', services: ['PXXXXXX'], conditions: { all: [{ field: 'incident.urgency', op: 'equals', value: 'high' }] }, actions: [{ type: 'pagerduty.note', content: 'Self-healing saw {{ incident.title }}' }] };

  function ruleEditorPage(gen, id) {
    var isNew = id === 'new';
    var load = isNew ? Promise.resolve(null) : api('GET', '/api/rules/' + encodeURIComponent(id)).then(must);
    return load.then(function (rule) {
      if (gen !== generation) return;
      var version = rule ? rule.version : null;
      var format = 'json';
      var editor = h('textarea', { id: 'rule-editor', 'data-testid': 'rule-editor', spellcheck: 'false' });
      editor.value = pretty(rule ? definitionOf(rule) : SAMPLE_RULE);
      var formatSelect = h('select', { 'data-testid': 'rule-format', onchange: function () {
        var to = formatSelect.value;
        parseEditor(editor.value, format).then(function (value) { return to === 'json' ? pretty(value) : convert(JSON.stringify(value), 'json', 'yaml'); })
          .then(function (text) { editor.value = text; format = to; }, function (e) { formatSelect.value = format; flash(e.message, true); });
      } }, h('option', { value: 'json' }, 'JSON'), h('option', { value: 'yaml' }, 'YAML'));
      var status = h('pre', { 'data-testid': 'rule-status', hidden: true });
      function show(text, bad) { status.hidden = false; status.textContent = text; status.className = bad ? 'error' : ''; }
      function save() {
        parseEditor(editor.value, format).then(function (value) {
          return isNew ? api('POST', '/api/rules', value) : api('PUT', '/api/rules/' + encodeURIComponent(id), value, { 'if-match': '"' + version + '"' });
        }).then(function (res) {
          if (!res.ok) { show(problemText(res), true); return; }
          flash('Saved ' + res.body.name + ' v' + res.body.version);
          if (isNew) location.hash = '#/rules/' + encodeURIComponent(res.body.id); else { version = res.body.version; route(); }
        }, function (e) { show(e.message, true); });
      }
      function validate() {
        parseEditor(editor.value, format).then(function (value) { return api('POST', '/api/rules/validate', value); })
          .then(function (res) { if (res.ok) show('Valid.'); else show(problemText(res), true); }, function (e) { show(e.message, true); });
      }
      // Dry-run tester: a PagerDuty payload (or a known incident id) against the rule as edited.
      var payload = h('textarea', { class: 'small', 'data-testid': 'test-payload', placeholder: 'PagerDuty V3 webhook body ({"event": {...}}) or the event' });
      var incidentId = h('input', { type: 'text', 'data-testid': 'test-incident', placeholder: 'or an incident id' });
      var result = h('div', { 'data-testid': 'test-result' });
      function runTest() {
        result.textContent = '';
        var input = {};
        try {
          if (incidentId.value.trim()) input.incidentId = incidentId.value.trim();
          else input.payload = JSON.parse(payload.value);
        } catch (e) { result.appendChild(h('p', { class: 'error' }, 'payload is not valid JSON: ' + e.message)); return; }
        parseEditor(editor.value, format).then(function (value) {
          return api('POST', '/api/rules/test', Object.assign({ rule: value }, input));
        }).then(function (res) {
          if (!res.ok) { result.appendChild(h('p', { class: 'error' }, problemText(res))); return; }
          var t = res.body;
          append(result, [h('p', {}, h('strong', { 'data-testid': 'test-verdict' }, t.matched ? 'MATCHES' : 'does not match'), t.dryRun ? ' (dry-run rule)' : ''),
            h('pre', { 'data-testid': 'test-explanation' }, t.explanationText || pretty(t.explanation)),
            t.matched ? h('div', {}, h('strong', {}, 'Actions that would run'), h('pre', {}, pretty(t.renderedActions))) : null,
            h('details', {}, h('summary', {}, 'Context'), h('pre', {}, pretty(t.context)))]);
        }, function (e) { result.appendChild(h('p', { class: 'error' }, e.message)); });
      }
      setMain(
        h('div', { class: 'row' }, h('a', { href: '#/rules' }, '← Rules')),
        h('h2', {}, isNew ? 'New rule' : rule.name + ' (v' + rule.version + ')'),
        rule && rule.breaker && rule.breaker.state === 'open' ? h('p', { class: 'error' }, 'Circuit breaker open since ' + when(rule.breaker.openedAt)) : null,
        h('div', { class: 'row' }, h('label', {}, 'Format '), formatSelect,
          h('button', { type: 'button', 'data-testid': 'rule-save', onclick: save }, isNew ? 'Create' : 'Save'),
          h('button', { type: 'button', class: 'secondary', 'data-testid': 'rule-validate', onclick: validate }, 'Validate')),
        editor, status,
        h('h3', {}, 'Dry-run tester'),
        h('p', { class: 'muted' }, 'Evaluates the rule as edited above; nothing runs and nothing is saved.'),
        payload, h('div', { class: 'row' }, incidentId, h('button', { type: 'button', 'data-testid': 'rule-test', onclick: runTest }, 'Test')), result);
    });
  }

  // ---- jobs ----------------------------------------------------------------------------------------
  function scheduleText(s) {
    if (!s) return '';
    if (s.interval) return /^every/.test(s.interval) ? s.interval : 'every ' + s.interval;
    if (s.cron) return 'cron ' + (Array.isArray(s.cron) ? s.cron.join('; ') : s.cron) + (s.timezone ? ' (' + s.timezone + ')' : '');
    return JSON.stringify(s);
  }
  function jobsPage(gen) {
    return api('GET', '/api/jobs').then(must).then(function (body) {
      return Promise.all(body.items.slice(0, 50).map(function (j) {
        // The detail's "schedule" is Temporal's description; keep the definition and take the state from it.
        return api('GET', '/api/jobs/' + encodeURIComponent(j.id)).then(function (r) { return r.ok ? Object.assign({}, j, { paused: r.body.paused, nextRunTimes: r.body.nextRunTimes }) : j; }, function () { return j; });
      }));
    }).then(function (jobs) {
      if (gen !== generation) return;
      var rows = jobs.map(function (j) {
        return h('tr', { class: 'clickable', 'data-testid': 'job-row', onclick: function () { location.hash = '#/jobs/' + encodeURIComponent(j.id); } },
          h('td', {}, h('a', { href: '#/jobs/' + encodeURIComponent(j.id) }, j.name)), h('td', {}, scheduleText(j.schedule)),
          h('td', {}, badge(j.paused || !j.enabled ? 'paused' : 'enabled')), h('td', {}, j.script + ' via ' + j.via),
          h('td', { 'data-testid': 'job-next' }, (j.nextRunTimes || []).slice(0, 1).map(when)),
          h('td', {}, ext(temporalLink('/schedules/' + encodeURIComponent(j.scheduleId || 'job-' + j.id)), 'Schedule', 'schedule-link')));
      });
      setMain(h('h2', {}, 'Jobs'), rows.length ? h('table', { 'data-testid': 'jobs' }, h('tr', {}, ['Name', 'Schedule', 'State', 'Script', 'Next run', 'Temporal'].map(function (t) { return h('th', {}, t); })), rows)
        : h('p', { class: 'muted' }, 'No scheduled jobs yet.'));
    });
  }

  function jobPage(gen, id) {
    var path = '/api/jobs/' + encodeURIComponent(id);
    return Promise.all([api('GET', path).then(must), api('GET', path + '/runs?limit=50').then(must)]).then(function (all) {
      if (gen !== generation) return;
      var runs = all[1];
      var j = all[0];
      function act(what) {
        return function () {
          api('POST', path + '/' + what).then(function (res) { if (!res.ok) flash(problemText(res), true); else { flash(what + ': done'); route(); } }, function (e) { flash(e.message, true); });
        };
      }
      var runRows = runs.items.map(function (r) {
        return [h('tr', { 'data-testid': 'job-run' }, h('td', {}, when(r.startedAt)), h('td', {}, r.trigger), h('td', {}, badge(r.status)),
          h('td', {}, r.durationMs === null ? '' : (r.durationMs / 1000).toFixed(1) + ' s'), h('td', {}, ext(r.temporalUrl, 'Temporal', 'run-temporal-link'))),
          h('tr', {}, h('td', { colspan: 5 }, r.targets.length ? h('table', {}, h('tr', {}, ['Environment', 'Via', 'Status', 'Exit', 'Output / error'].map(function (t) { return h('th', {}, t); })),
            r.targets.map(function (t) {
              return h('tr', { 'data-testid': 'job-target' }, h('td', {}, t.environment), h('td', {}, t.via), h('td', {}, badge(t.status)), h('td', {}, t.exitCode === null ? '' : String(t.exitCode)),
                h('td', {}, t.error ? h('div', { class: 'error' }, t.error) : null, t.outputExcerpt ? h('pre', {}, t.outputExcerpt) : null));
            })) : h('span', { class: 'muted' }, 'no target results yet')))];
      });
      setMain(
        h('div', { class: 'row' }, h('a', { href: '#/jobs' }, '← Jobs')),
        h('h2', {}, j.name),
        h('div', { class: 'row' }, badge(j.paused ? 'paused' : 'enabled', 'job-state'), h('span', {}, scheduleText(j.schedule)),
          h('button', { type: 'button', 'data-testid': 'job-trigger', onclick: act('trigger') }, 'Run now'),
          j.paused ? h('button', { type: 'button', class: 'secondary', 'data-testid': 'job-resume', onclick: act('resume') }, 'Resume')
            : h('button', { type: 'button', class: 'secondary', 'data-testid': 'job-pause', onclick: act('pause') }, 'Pause'),
          ext(temporalLink('/schedules/' + encodeURIComponent(j.scheduleId)), 'Schedule in Temporal', 'schedule-link')),
        h('div', { class: 'grid' },
          h('div', { class: 'card' }, h('h3', {}, 'Next runs'), (j.nextRunTimes || []).length ? h('ul', { 'data-testid': 'next-runs' }, j.nextRunTimes.map(function (t) { return h('li', {}, when(t)); })) : h('p', { class: 'muted' }, 'none (paused?)')),
          h('div', { class: 'card' }, h('h3', {}, 'Definition'), h('pre', {}, pretty({ targets: j.targets, via: j.via, script: j.script, args: j.args, timeoutSecondsPerTarget: j.timeoutSecondsPerTarget, concurrency: j.concurrency, dryRun: j.dryRun })))),
        h('h3', {}, 'Run history'),
        runs.schedule && runs.schedule.skippedOverlap ? h('p', { class: 'muted' }, runs.schedule.skippedOverlap + ' run(s) skipped because the previous one was still running') : null,
        runRows.length ? h('table', { 'data-testid': 'job-runs' }, h('tr', {}, ['Started', 'Trigger', 'Status', 'Duration', 'Run'].map(function (t) { return h('th', {}, t); })), runRows) : h('p', { class: 'muted' }, 'No runs yet.'));
    });
  }

  // ---- environments ------------------------------------------------------------------------------
  function environmentsPage(gen) {
    return api('GET', '/api/environments').then(must).then(function (body) {
      return Promise.all(body.items.slice(0, 100).map(function (e) {
        return api('GET', '/api/environments/' + encodeURIComponent(e.name)).then(function (r) { return r.ok ? r.body : e; }, function () { return e; });
      }));
    }).then(function (envs) {
      if (gen !== generation) return;
      var rows = envs.map(function (e) {
        var agent = e.agent || {};
        var last = (agent.pollers || []).map(function (p) { return p.lastAccessTime; }).sort().pop();
        return h('tr', { 'data-testid': 'environment-row', 'data-name': e.name }, h('td', {}, e.name), h('td', {}, e.description || ''),
          h('td', {}, badge(agent.online ? 'online' : 'offline', 'agent-state'), agent.error ? h('div', { class: 'error' }, agent.error) : null),
          h('td', {}, last ? when(last) : ''), h('td', {}, ext(temporalLink('/task-queues/' + encodeURIComponent(e.agentTaskQueue)), e.agentTaskQueue, 'queue-link')),
          h('td', {}, e.ssh ? e.ssh.user + '@' + e.ssh.host + ':' + e.ssh.port : ''),
          h('td', {}, Object.keys(e.labels || {}).map(function (k) { return k + '=' + e.labels[k]; }).join(', ')));
      });
      setMain(h('h2', {}, 'Environments'), rows.length ? h('table', { 'data-testid': 'environments' }, h('tr', {}, ['Name', 'Description', 'Doctor agent', 'Last poll', 'Task queue', 'Management VM', 'Labels'].map(function (t) { return h('th', {}, t); })), rows)
        : h('p', { class: 'muted' }, 'No environments yet.'));
    });
  }

  // ---- router --------------------------------------------------------------------------------------
  function route() {
    clearTimeout(timer);
    generation++;
    var gen = generation;
    if (!token()) { loginPage(); return; }
    nav.hidden = false; logout.hidden = false;
    var parts = location.hash.replace(/^#\/?/, '').split('?')[0].split('/').map(decodeURIComponent);
    var section = parts[0] || 'incidents';
    nav.querySelectorAll('a').forEach(function (a) { a.classList.toggle('active', a.getAttribute('data-nav') === section); });
    var page;
    if (section === 'incidents') page = parts[1] ? incidentPage(gen, parts[1]) : incidentsPage(gen);
    else if (section === 'rules') page = parts[1] ? ruleEditorPage(gen, parts[1]) : rulesPage(gen);
    else if (section === 'jobs') page = parts[1] ? jobPage(gen, parts[1]) : jobsPage(gen);
    else if (section === 'environments') page = environmentsPage(gen);
    else { location.hash = '#/incidents'; return; }
    page.catch(function (e) { if (gen === generation && token()) failure(e); });
  }

  logout.addEventListener('click', function () { sessionStorage.removeItem(TOKEN_KEY); location.hash = '#/login'; loginPage(); });
  window.addEventListener('hashchange', route);
  fetch('/ui/config.json').then(function (r) { return r.json(); }).then(function (c) { config = c; }, function () {}).then(route);
})();
`;
