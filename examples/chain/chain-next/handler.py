def handle(event, context):
    """Answers how many bytes arrived."""
    return {"statusCode": 200, "body": {"bytes": len(event.body)}}
