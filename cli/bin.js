#!/usr/bin/env node
// `cairn` on PATH (npm link / npx cairn): runs the TypeScript CLI through tsx.
import { register } from 'tsx/esm/api';

register();
await import('./main.ts');
