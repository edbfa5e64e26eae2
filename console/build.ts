// npm run console:build: the console and the static report's page, built by Vite (cairn ui does this when needed).
import { buildConsole } from './server.js';

await buildConsole();
