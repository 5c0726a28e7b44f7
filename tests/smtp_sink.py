"""A real SMTP server for tests/api/email.rs, on aiosmtpd (scripts/test.sh installs it).

    python3 tests/smtp_sink.py FOLDER

Listens on a free port of 127.0.0.1 and prints that port on the first line of
its output. Each message it accepts is written to FOLDER as one JSON file
(written aside, then renamed, so a reader never sees half a file):
{"mail_from", "rcpt_tos", "headers": {lowercase name: decoded value}, "body"}.

Recipients whose local part starts with "reject" are refused for good (550);
those starting with "busy" are refused once (451), then accepted — an SMTP
server's two ways of saying no.
"""
import asyncio
import email
import json
import os
import sys
from email import policy

from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0
        self.refused_once = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local.startswith("reject"):
            return "550 5.1.1 no such mailbox"
        if local.startswith("busy") and address not in self.refused_once:
            self.refused_once.add(address)
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=policy.default)
        body = message.get_body(("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": {name.lower(): str(value) for name, value in message.items()},
            "body": body.get_content() if body is not None else "",
        }
        self.count += 1
        path = os.path.join(self.folder, f"{self.count:06}.json")
        with open(path + ".tmp", "w") as out:
            json.dump(record, out)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 accepted"


async def main(folder):
    sink = Sink(folder)
    loop = asyncio.get_running_loop()
    # hostname given: aiosmtpd would otherwise look up this machine's name.
    server = await loop.create_server(
        lambda: SMTP(sink, hostname="localhost"), "127.0.0.1", 0
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
