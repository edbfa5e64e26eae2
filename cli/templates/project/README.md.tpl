# {{NAME}}

A Cairn project: pipelines as TypeScript code, run as durable Temporal workflows.

```sh
npm install
npm test                                   # runs the pipeline in process (runLocally)
npx cairn worker & npx cairn worker --heavy &   # workers for this project (Temporal, PostgreSQL and S3 from Cairn's stack)
npx cairn run penguin-report --watch       # one run through Temporal, cached step by step
```

`cairn.config.ts` lists the pipelines; each is a DAG of steps (`defineStep`) wired with `definePipeline`.
