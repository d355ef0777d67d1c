// `npm pack`: the tarball holds the queue scripts (copied by prepack from src/core/queue/scripts,
// byte for byte), the types and the sources; the copy is gone from the tree afterwards; and an
// unpacked package outside the tree reads its own copy.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { clientDir, repoDir } from '../testing/support.js';

describe('npm pack', () => {
  it('packs the scripts, the types and the sources; works outside the tree', () => {
    const out = mkdtempSync(join(tmpdir(), 'tempest-node-pack-'));
    try {
      const env = { ...process.env, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };
      delete env.TEMPEST_SCRIPTS_DIR;
      const json = execFileSync('npm', ['pack', '--json', '--pack-destination', out], { cwd: clientDir, env, encoding: 'utf8', timeout: 60000, stdio: ['ignore', 'pipe', 'pipe'] });
      const [info] = JSON.parse(json);
      const files = info.files.map((f) => f.path);
      for (const s of ['take', 'reap', 'goodbye', 'history', 'retry']) assert.ok(files.includes(`scripts/${s}.lua`), `scripts/${s}.lua in ${files}`);
      for (const f of ['package.json', 'index.d.ts', 'express.d.ts', 'README.md', 'src/index.js', 'src/express.js', 'examples/hello.js'])
        assert.ok(files.includes(f), `${f} in the tarball`);
      assert.ok(!files.some((f) => f.startsWith('test/') || f.startsWith('node_modules/')), 'no tests or node_modules packed');
      assert.ok(!existsSync(join(clientDir, 'scripts')), 'postpack removed the copy');

      execFileSync('tar', ['xzf', join(out, info.filename), '-C', out]);
      const pkg = join(out, 'package');
      const take = readFileSync(join(pkg, 'scripts', 'take.lua'), 'utf8');
      assert.equal(take, readFileSync(join(repoDir, 'src/core/queue/scripts/take.lua'), 'utf8'));
      symlinkSync(join(clientDir, 'node_modules'), join(pkg, 'node_modules'));
      const dir = execFileSync(process.execPath, ['--input-type=module', '-e',
        "import { scriptsDir, loadScript } from './src/index.js'; loadScript('take'); console.log(scriptsDir())"],
        { cwd: pkg, encoding: 'utf8', env }).trim();
      assert.equal(dir, join(pkg, 'scripts'));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('reads the scripts from the repo in the tree', async () => {
    const { scriptsDir } = await import('tempest-worker');
    assert.equal(scriptsDir(), process.env.TEMPEST_SCRIPTS_DIR || join(repoDir, 'src/core/queue/scripts'));
    assert.ok(!execFileSync('git', ['ls-files', 'scripts'], { cwd: clientDir, encoding: 'utf8' }).trim(), 'no script copy in git');
  });
});
