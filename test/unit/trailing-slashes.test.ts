// A base URL from configuration loses the slashes it ends with before a path is added. That was
// `.replace(/\/+$/, '')`, which tries the run of slashes from each of its positions: a long run not at the
// end (100,000 slashes and an `x`) took V8 seconds, on the API's event loop for the dashboard's Temporal UI
// link. trimTrailingSlashes is a loop; these assert its results (each finishes in well under a millisecond).
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config.js';
import { trimTrailingSlashes } from '../../src/domain/text.js';

const RUN = '/'.repeat(100_000);

describe('trailing slashes trimmed in one pass (src/domain/text.ts)', function () {
  it('trims the slashes a text ends with, and only those', function () {
    assert.equal(trimTrailingSlashes('https://h.example/api///'), 'https://h.example/api');
    assert.equal(trimTrailingSlashes('https://h.example/api'), 'https://h.example/api');
    assert.equal(trimTrailingSlashes('///'), '');
    assert.equal(trimTrailingSlashes(''), '');
    assert.equal(trimTrailingSlashes('a/b\\'), 'a/b\\');
  });

  it('100,000 slashes followed by x are kept whole, and 100,000 slashes at the end are all trimmed', function () {
    this.timeout(2_000);
    assert.equal(trimTrailingSlashes(`${RUN}x`), `${RUN}x`);
    assert.equal(trimTrailingSlashes(`http://h${RUN}x${RUN}`), `http://h${RUN}x`);
  });

  it('configuration: TEMPORAL_UI_URL, PAGERDUTY_API_URL, GITHUB_API_URL and JIRA_BASE_URL holding 100,000 slashes then x are kept as given', function () {
    this.timeout(2_000);
    const odd = `https://h.example${RUN}x`;
    const config = loadConfig({
      NODE_ENV: 'test',
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      TEMPORAL_UI_URL: odd,
      PAGERDUTY_API_URL: odd,
      GITHUB_API_URL: odd,
      JIRA_BASE_URL: `${odd}//`,
    });
    assert.deepEqual([config.temporal.uiUrl, config.pagerduty.apiUrl, config.github.apiUrl, config.jira.baseUrl].map((u) => u === odd), [true, true, true, true]);
  });
});
