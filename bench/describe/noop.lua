wrk.method = "PATCH"
wrk.body = '{"custom": {"orderNumberStr": "A1", "priorityNum": 1}}'
wrk.headers["Content-Type"] = "application/json"
