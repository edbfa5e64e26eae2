# Settings of this project's Cairn processes (workers, CLI); environment variables override them (cairn config).
# The local stack (`npm run stack:up` in Cairn) keeps its state and generated secrets here:
home: {{CAIRN_HOME}}
worker:
  # No Prometheus endpoint, so these workers can run beside the stack's own.
  metricsPort: 0
