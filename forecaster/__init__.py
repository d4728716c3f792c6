"""forecaster: time-series forecasting with interchangeable recurrent models.

The heavy parts (TensorFlow/Keras) are imported by the modules that build or run models,
never here, so importing the package and parsing configs stays fast.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
