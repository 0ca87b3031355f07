#!/usr/bin/env node
import('../dist/cli/tapvsadm.js')
  .then((m) => m.main(process.argv.slice(2)))
  .then((code) => process.exit(code));
