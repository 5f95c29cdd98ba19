"""Spectare: a Kubernetes-native recorder for IP cameras."""

__version__ = "0.1.0"
