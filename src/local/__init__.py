"""``spectare up``: the whole recorder on one machine, without Kubernetes."""
