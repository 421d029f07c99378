// The bench's origin: a loopback HTTP server that answers every request with 200 and a
// small fixed JSON body, as cheaply as Node can. Run as a child process (so it has its
// own event loop, apart from the load generator); it reports its port over IPC and
// exits when the parent disconnects.
import http from "node:http";

const BODY = Buffer.from('{"ok":true,"origin":"bench"}');
const HEADERS = { "Content-Type": "application/json", "Content-Length": String(BODY.length) };

const server = http.createServer((req, res) => {
	// Drain any request body, then answer.
	req.resume();
	res.writeHead(200, HEADERS);
	res.end(req.method === "HEAD" ? undefined : BODY);
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;

server.listen(0, "127.0.0.1", () => {
	const { port } = server.address();
	if (process.send) process.send({ port });
	else console.log(`bench origin on http://127.0.0.1:${port}`);
});

const stop = () => {
	server.closeAllConnections?.();
	server.close(() => process.exit(0));
	setTimeout(() => process.exit(0), 500).unref();
};
process.on("disconnect", stop);
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
