"""A partner command that makes no request at all."""

if __name__ == "__main__":
    pass
