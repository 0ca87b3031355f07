#!/usr/bin/env node
import('../dist/cli/tapvs.js').then((m) => m.main(process.argv.slice(2)));
