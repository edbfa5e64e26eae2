{
  "name": "{{NAME}}",
  "version": "0.1.0",
  "private": true,
  "type": "module",
  "scripts": {
    "test": "vitest run",
    "typecheck": "tsc -p .",
    "worker": "cairn worker",
    "worker:heavy": "cairn worker --heavy",
    "cairn": "cairn"
  },
  "dependencies": {
    "cairn": "{{CAIRN_SPEC}}"
  },
  "devDependencies": {
    "@types/node": "{{TYPES_NODE}}",
    "typescript": "{{TYPESCRIPT}}",
    "vitest": "{{VITEST}}"
  }
}
