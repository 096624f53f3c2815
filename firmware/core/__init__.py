"""Sans-IO runtime shared by every firmware core: clocks, scheduler, queues.

Nothing here touches hardware, sleeps or keeps globals; time always arrives
as an argument (`now_ms`) or through a clock object passed in.
"""
