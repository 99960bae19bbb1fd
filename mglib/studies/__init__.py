"""The three studies (classification, online recognition, detection) as training-engine tasks, one module each."""
