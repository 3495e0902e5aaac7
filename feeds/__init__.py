"""The ArcticNews app: one sub-package per stage, each saying in its docstring what it owns and
what it may import; models and types at the bottom.
"""
