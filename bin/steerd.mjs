#!/usr/bin/env node
// steerd ships TypeScript and runs it as is (as `npm start` does): register tsx's loader in this process, then
// load the command line, so signals and exit codes are the command's own.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/steerd.ts');
