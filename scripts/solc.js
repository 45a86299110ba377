#!/usr/bin/env node
// A solc command line for tools that drive the native compiler (such as py-solc-x), backed by
// the solc-js package that scripts/install-tools puts in <repo>/.tools. It answers
//   --version        in the native compiler's two-line format
//   --standard-json  standard JSON in on stdin, standard JSON out on stdout
// through solc-js's JavaScript API (its own CLI prints a notice before the JSON).
// Imports are read from disk relative to --base-path (default: the working directory), and only
// from inside the base path or an --allow-paths directory.
'use strict';

const fs = require('fs');
const path = require('path');

const toolsDir = process.env.OKEIOS_TOOLS_DIR || path.join(__dirname, '..', '.tools');

function loadSolc() {
  const where = path.join(toolsDir, 'node_modules', 'solc');
  try {
    return require(where);
  } catch (err) {
    process.stderr.write(`solc-js not found at ${where}: run scripts/install-tools\n`);
    process.exit(2);
  }
}

function usage(message) {
  process.stderr.write(`${message}\nusage: solc --version | solc --standard-json ` +
    '[--base-path DIR] [--allow-paths DIR[,DIR...]]\n');
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { version: false, standardJson: false, basePath: null, allowPaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--version') opts.version = true;
    else if (arg === '--standard-json') opts.standardJson = true;
    else if (arg === '--base-path' || arg === '--allow-paths') {
      if (i + 1 >= argv.length) usage(`option ${arg} needs a value`);
      const value = argv[++i];
      if (arg === '--base-path') opts.basePath = value;
      else opts.allowPaths.push(...value.split(',').filter(Boolean));
    } else if (arg === '-') {
      // py-solc-x's "read from stdin" marker; standard JSON always reads stdin.
    } else {
      usage(`unrecognised option '${arg}'`);
    }
  }
  return opts;
}

function within(dir, file) {
  const rel = path.relative(dir, file);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function importReader(basePath, allowPaths) {
  const base = path.resolve(basePath || process.cwd());
  const allowed = [base, ...allowPaths.map((p) => path.resolve(p))];
  return (name) => {
    const file = path.resolve(base, name);
    if (!allowed.some((dir) => within(dir, file))) {
      return { error: `${name} is outside the allowed paths` };
    }
    try {
      return { contents: fs.readFileSync(file, 'utf8') };
    } catch (err) {
      return { error: `cannot read ${name}: ${err.message}` };
    }
  };
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.version) {
    const solc = loadSolc();
    process.stdout.write(
      `solc, the solidity compiler commandline interface\nVersion: ${solc.version()}\n`);
    return;
  }
  if (!opts.standardJson) usage('only --version and --standard-json are supported');
  const input = fs.readFileSync(0, 'utf8');
  const solc = loadSolc();
  const output = solc.compile(input, { import: importReader(opts.basePath, opts.allowPaths) });
  process.stdout.write(output.endsWith('\n') ? output : `${output}\n`);
}

main();
