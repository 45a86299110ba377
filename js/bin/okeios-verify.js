#!/usr/bin/env node
// okeios-verify BUNDLE... [options] [--json]: see `okeios-verify --help`.
import { main } from "../dist/cli.js";

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`okeios-verify: internal error: ${error && error.stack ? error.stack : error}\n`);
    process.exitCode = 2;
  },
);
