"""Create Intercom contacts from AWS Lambda: a REST API and an SQS worker."""
