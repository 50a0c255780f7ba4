print("toolworker: not yet")
