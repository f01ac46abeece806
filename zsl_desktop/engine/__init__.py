"""The engine: datasets, features, methods, training and evaluation. No Qt below this package."""
