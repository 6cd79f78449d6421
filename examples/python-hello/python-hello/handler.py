def handle(event, context):
    """Greets whoever the body names."""
    name = event.body.decode("utf-8", "replace").strip() or "world"
    return {"statusCode": 200, "body": f"Hello, {name}!\n"}
