"""Following one establishment (issue 19), in one place: an address asks, confirms through
its email's link, then receives that establishment's alerts and digest as it chose.

- `models`: `Follower`, `FollowRequest`;
- `service`: requests and their throttling, confirmation links, stopping, erasure, and
  the receivers of the core's retention purge and privacy page;
- `emails`: the confirmation email;
- `views`: the form, the confirmation page, the coordinators' list.
"""
