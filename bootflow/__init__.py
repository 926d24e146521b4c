import warnings

# oslo.messaging imports oslo.service, which imports eventlet only to offer
# it; bootflow runs on native threads and never uses it, so its deprecation
# banner would only mislead operators.
warnings.filterwarnings('ignore', message=r'\s*Eventlet is deprecated')
