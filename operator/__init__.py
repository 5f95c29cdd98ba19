"""The Kubernetes operator: a worker pod per enabled Camera, status from the store."""
