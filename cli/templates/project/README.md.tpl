# {{NAME}}

A Cairn project: pipelines as TypeScript code, run as durable Temporal workflows.

```sh
npm install
npm test                                        # the steps, in process (runLocally, runStepLocally)
npx cairn worker & npx cairn worker --heavy &   # workers for this project (Temporal, PostgreSQL and S3 from Cairn's stack)
export CAIRN_TOKEN=<your token>                 # who you are: commands that start work present one (cairn tokens create)
npx cairn run penguin-report --watch            # a DAG of custom steps with a foreach, cached step by step
npx cairn run penguin-species --watch           # a custom step, then Cairn's tabular steps: a registered model
npx cairn reproduce <run-id>                    # the run again, cache bypassed: the same bytes
npx cairn release penguin-species@1 --first     # with a release:penguin-species token; an approver approves, then served
```

`cairn.config.ts` lists the pipelines; each is a DAG of steps (`defineStep`) wired with `definePipeline`.
`trainTabular` adds Cairn's built-in steps (dataset, validate, transform, train, evaluate, package, register) after
your own.
