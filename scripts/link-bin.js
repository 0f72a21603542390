#!/usr/bin/env node
// Links this package's own `clicktrain` command into node_modules/.bin, so that in a clone
// `npm install && npx clicktrain train` works (npm links bins of dependencies, not of the
// project itself). Installed as a dependency, npm links the bin as usual and this is a no-op.
'use strict';
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const binDir = path.join(root, 'node_modules', '.bin');
const target = path.join(root, 'dist', 'src', 'cli', 'main.js');
if (fs.existsSync(path.join(root, 'node_modules')) && fs.existsSync(target)) {
  fs.mkdirSync(binDir, {recursive: true});
  const link = path.join(binDir, 'clicktrain');
  try {
    fs.unlinkSync(link);
  } catch {
    // not there yet
  }
  fs.symlinkSync(path.relative(binDir, target), link);
  fs.chmodSync(target, 0o755);
}
