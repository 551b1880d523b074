"""A stand-in for the linstor-virt agent in the transport tests: HTTP on a unix socket.

argv: <socket path> <record file> [hangup]. Each POST /v1/call body is appended to the record file
as one line; the reply names the operation and says it came from the agent. With `hangup` the
agent reads the request and closes the connection without a reply (it "crashed" mid-call).
"""
import http.server
import json
import os
import socketserver
import sys

socket_path, record = sys.argv[1], sys.argv[2]
hangup = sys.argv[3:] == ['hangup']


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length']))
        with open(record, 'a') as f:
            f.write(body.decode() + '\n')
        if hangup:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        request = json.loads(body)
        out = json.dumps({'v': 1, 'result': {
            'via': 'agent', 'operation': request['operation'],
            'path': self.path}}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def address_string(self):
        return 'unix'

    def log_message(self, *args):
        pass


class Server(socketserver.UnixStreamServer):
    pass


if os.path.exists(socket_path):
    os.unlink(socket_path)
with Server(socket_path, Handler) as server:
    print('listening', flush=True)
    server.serve_forever()
