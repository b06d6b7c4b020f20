"""Signed callbacks (webhooks) as EngageLab sends them. Pure: no web framework.

    signing.py    the X-CALLBACK-ID header, made and checked (`verify_callback_id`)
    config.py     a callback configuration: URL, username, secret, Authorization, events
    targets.py    where the mock may send (loopback, private networks or anywhere) and which ports never
    rows.py       the rows of the callback envelope, built from the event stream's records
    delivery.py   a delivery (one envelope to one URL) and its attempts, with its pure state changes
    transport.py  one HTTP POST with a hard deadline and a bounded answer
    service.py    Callbacks: configuration, routing the stream into deliveries, attempts, the log
    sender.py     the background sender of a serving process
    listen.py     `otp-mock listen`: a local receiver that verifies, prints and forwards

Importing this package loads nothing: its modules are imported where they are used.
"""
