"""A local webhook receiver for the local run: prints every alert it gets."""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            a = json.loads(body)
            print(f"\n=== ALERT RECEIVED ({self.headers.get('Idempotency-Key')}) ===\n"
                  f"{a.get('status', '?').upper()}: {a.get('summary')}\n"
                  f"root cause: {json.dumps(a.get('root_cause'))}\n", flush=True)
        except ValueError:
            print(body, flush=True)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass

HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
