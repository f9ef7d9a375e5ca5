-- wrk script: POST a small payload (the warm path through HTTP).
wrk.method = "POST"
wrk.body = "hello, goldfish"
wrk.headers["Content-Type"] = "application/octet-stream"
