import { defineConfig } from 'vite';

// The console's front end (root: this folder), built into dist/, which `cairn ui` serves (console/server.ts).
export default defineConfig({
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
});
