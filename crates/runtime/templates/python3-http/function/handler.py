def handle(event, context):
    """handle a request to the function
    Args:
        event: the request: .body (bytes), .headers, .method, .query, .path
        context: .hostname
    """

    return {
        "statusCode": 200,
        "body": "Hello from OpenFaaS!"
    }
