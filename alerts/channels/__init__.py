"""Webhook and chat channels beside email addresses (issue 30), in one place.

A channel belongs to an establishment (like its contacts), a member service, or
the committee (every alert and the whole digest, like coordinators). It receives
what an email address of that recipient would, as one notification row per
recipient × channel, delivered by the same claim / outcome / retry machinery
(`alerts.delivery`); only the last step differs: a signed JSON POST (Standard
Webhooks) or a short text through Apprise instead of an email.

- `models`: `Channel`;
- `targets`: what URL is accepted, how it is shown, and the guard that keeps every
  outgoing request off loopback, link-local and private addresses;
- `payloads`: a notification's webhook payload and chat text, from the same content
  as its email;
- `send`: the POST and the Apprise notification, their outcomes as delivery knows them;
- `service`: adding, listing, removing and testing channels (the console and the CLI).
"""
