import assert from 'node:assert/strict';
import { onReadOnlyMount, tokenFileWarnings } from '../../src/cli/token-file.js';

// Which mount a token file is on, read from /proc/self/mountinfo (src/cli/token-file.ts): a file on a
// read-only mount (a Kubernetes Secret volume) is not warned about for being readable; its owner still is.
// Lines as a pod shows them: the Secret's tmpfs is the kubelet's, bound read-only into the container.
const POD = [
  '1230 1100 0:310 / / rw,relatime master:400 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w',
  '1245 1230 0:312 / /var/run/secrets/selfheal ro,relatime - tmpfs tmpfs rw,size=65536k,inode64',
  '1246 1230 0:313 / /etc/with\\040space ro,relatime - tmpfs tmpfs rw',
  '1247 1230 0:314 / /data rw,relatime - tmpfs tmpfs rw',
  // Something mounted over /data later: the one on top is the one a path under /data reaches.
  '1248 1230 0:315 / /data rw,relatime - tmpfs tmpfs ro',
].join('\n');
/** The st_dev Linux gives a file on device major:minor (glibc's makedev). */
const dev = (major: number, minor: number) => (BigInt(minor & 0xff) | (BigInt(major & 0xfff) << 8n) | (BigInt(minor & ~0xff) << 12n) | (BigInt(major & ~0xfff) << 32n));

describe('cli token file: is it on a read-only mount', () => {
  it('reads the mount of the file (the longest mount point holding it, the last of equals) and its ro, only when its device is the file\'s own', () => {
    assert.equal(onReadOnlyMount('/var/run/secrets/selfheal/..2026_12_06/token', dev(0, 312), POD), true);
    assert.equal(onReadOnlyMount('/var/run/secrets/selfheal', dev(0, 312), POD), true);
    // A name that only starts like the mount point is not under it.
    assert.equal(onReadOnlyMount('/var/run/secrets/selfheal-other/token', dev(0, 310), POD), false);
    assert.equal(onReadOnlyMount('/home/me/token', dev(0, 310), POD), false);
    // A mount point with a space is written \040.
    assert.equal(onReadOnlyMount('/etc/with space/token', dev(0, 313), POD), true);
    // The file system's own ro counts as the mount's does.
    assert.equal(onReadOnlyMount('/data/token', dev(0, 315), POD), true);
    // The device does not match the mount found (a file reached some other way): taken as writable.
    assert.equal(onReadOnlyMount('/var/run/secrets/selfheal/token', dev(0, 999), POD), false);
    assert.equal(onReadOnlyMount('/data/token', dev(0, 314), POD), false);
    // Large device numbers (major above 255, minor above 255) are split as Linux does.
    assert.equal(onReadOnlyMount('/big/token', dev(259, 70000), '1 0 259:70000 / /big ro - ext4 /dev/nvme0n1p1 rw'), true);
    assert.equal(onReadOnlyMount('/x', dev(0, 1), ''), false);
  });

  it("still warns about a file of another user on a read-only mount: the mount says nothing of the file's own path, through which its owner can change it", () => {
    // A reviewer's repro: uid 1234's 0600 file bind-mounted read-only; uid 1234 wrote another token through
    // the original path and the CLI read it, without a word (the owner warning was dropped on any ro mount).
    const theirs = tokenFileWarnings('/mnt/ro/token', { mode: 0o100600, uid: 1234 }, { euid: 0, readOnlyMount: true, readableOk: false });
    assert.deepEqual(theirs, ['warning: --token-file /mnt/ro/token belongs to uid 1234, neither you (uid 0) nor root: that user can read it and put another token in it; the token is used, but give a file of your own']);
    // A Secret's files: root's, 0644, read-only: no warning, as before.
    assert.deepEqual(tokenFileWarnings('/var/run/secrets/selfheal/token', { mode: 0o100644, uid: 0 }, { euid: 1000, readOnlyMount: true, readableOk: false }), []);
  });
});
