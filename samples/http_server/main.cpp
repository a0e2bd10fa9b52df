// http_server: how a C++ server links troupe in. A small HTTP/1.1 server on
// Boost.Beast (the structure of Beast's http_server_async example, smaller)
// whose request handlers ask actors (services.hpp) and answer from the ask's
// completion callback, on the connection's Asio strand. No thread waits for
// an actor: an Asio thread makes the ask and returns to its event loop; the
// reply, or the per-request deadline, brings the answer back.
//
//   http_server [--port N] [--deadline-ms N]     (port 0: an ephemeral one)
//
// Prints "listening on 127.0.0.1:PORT" first; stops on SIGINT or SIGTERM.
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <csignal>
#include <cstdio>
#include <exception>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "params.hpp"
#include "services.hpp"

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using response = http::response<http::string_body>;

// What every request handler needs. Owned by main; connections refer to it.
struct services {
  troupe::actor_ref<kv_store> store;
  troupe::actor_ref<slow_backend> slow;
  troupe::actor_ref<worker> work;
  std::chrono::milliseconds deadline;  // of every ask, from the moment the request is read
};

response text(http::status status, std::string body) {
  response res{status, 11};
  res.set(http::field::content_type, "text/plain");
  res.body() = std::move(body);
  return res;
}

// Why an ask got no reply, as an HTTP status.
response error_response(troupe::actor_errc e) {
  using troupe::actor_errc;
  switch (e) {
    case actor_errc::mailbox_full:    // the actor's bounded mailbox refused the request
    case actor_errc::system_stopped:  // the server is shutting down
    case actor_errc::actor_stopped: {
      response res = text(http::status::service_unavailable, std::string(troupe::to_string(e)) + "\n");
      res.set(http::field::retry_after, "1");
      return res;
    }
    case actor_errc::timeout:  // no reply before the request's deadline
      return text(http::status::gateway_timeout, "timeout\n");
    default:  // the handler threw (handler_failed), or a bug
      return text(http::status::internal_server_error, std::string(troupe::to_string(e)) + "\n");
  }
}

// One connection: read a request, answer it, read the next (keep-alive).
// Every handler runs on the connection's strand, so they never overlap.
class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket&& socket, const services& svc) : stream_(std::move(socket)), svc_(svc) {}

  void run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&session::read, shared_from_this()));
  }

 private:
  void read() {
    req_ = {};
    stream_.expires_after(30s);  // an idle or stalled connection is closed
    http::async_read(stream_, buffer_, req_,
                     beast::bind_front_handler(&session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream) return close();
    if (ec) return;  // timeout, reset or unparsable: drop the connection
    route();
  }

  void route() {
    const std::string_view target(req_.target().data(), req_.target().size());
    const auto [path, query] = split_target(target);
    const http::verb method = req_.method();

    if (path.starts_with("/value/") && path.size() > 7) {
      std::string key(path.substr(7));
      if (method == http::verb::get)
        return answer(
            svc_.store.ask(get_value{std::move(key)}, svc_.deadline), [](std::optional<std::string> v) {
              return v ? text(http::status::ok, *v + "\n") : text(http::status::not_found, "no such key\n");
            });
      if (method == http::verb::put)
        return answer(svc_.store.ask(put_value{std::move(key), std::move(req_.body())}, svc_.deadline),
                      [] { return text(http::status::ok, "stored\n"); });
    }
    if (method == http::verb::get && (path == "/slow" || path == "/work")) {
      auto ms = ms_param(query, 50ms);
      if (!ms) return write(text(http::status::bad_request, "expected ?ms=N, N at most 60000\n"));
      auto reply = [](std::string s) { return text(http::status::ok, std::move(s)); };
      if (path == "/slow") return answer(svc_.slow.ask(sleep_for{*ms}, svc_.deadline), reply);
      return answer(svc_.work.ask(job{*ms}, svc_.deadline), reply);
    }
    write(text(http::status::not_found, "no such route\n"));
  }

  // The heart of the sample. ask() returns at once with a future; its
  // callback runs exactly once, with the reply or with the reason there is
  // none (at the latest at the deadline, as actor_errc::timeout), and is
  // posted to this connection's strand, the only place the stream may be
  // touched. The callback owns the session meanwhile: nothing else does.
  template <class T, class MakeResponse>
  void answer(troupe::ask_future<T> reply, MakeResponse make) {
    auto on_strand = [ex = stream_.get_executor()](auto job) { net::post(ex, std::move(job)); };
    reply.on_complete(on_strand, [self = shared_from_this(), make = std::move(make)](troupe::result<T> r) {
      if (!r.has_value()) return self->write(error_response(r.error_code()));
      if constexpr (std::is_void_v<T>)
        self->write(make());
      else
        self->write(make(std::move(r).value()));
    });
  }

  void write(response res) {
    res_ = std::move(res);
    res_.version(req_.version());
    res_.keep_alive(req_.keep_alive());
    res_.prepare_payload();
    stream_.expires_after(30s);
    http::async_write(stream_, res_, beast::bind_front_handler(&session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec) return;
    if (res_.need_eof()) return close();
    read();
  }

  void close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  response res_;  // lives here until async_write is done with it
  const services& svc_;
};

// Accepts connections until stop().
class listener : public std::enable_shared_from_this<listener> {
 public:
  listener(net::io_context& io, const tcp::endpoint& at, const services& svc)
      : io_(io), acceptor_(net::make_strand(io)), svc_(svc) {
    acceptor_.open(at.protocol());
    acceptor_.set_option(net::socket_base::reuse_address(true));
    acceptor_.bind(at);
    acceptor_.listen(net::socket_base::max_listen_connections);
  }

  unsigned short port() const { return acceptor_.local_endpoint().port(); }
  void run() { accept(); }
  // Thread-safe: closes the acceptor on its strand.
  void stop() {
    net::post(acceptor_.get_executor(), [self = shared_from_this()] { self->acceptor_.close(); });
  }

 private:
  void accept() {
    // Each connection gets a strand of its own: its handlers never run at
    // the same time, whichever Asio thread runs them.
    acceptor_.async_accept(net::make_strand(io_),
                           beast::bind_front_handler(&listener::on_accept, shared_from_this()));
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;  // stop()
    if (!ec) std::make_shared<session>(std::move(socket), svc_)->run();
    accept();
  }

  net::io_context& io_;
  tcp::acceptor acceptor_;
  const services& svc_;
};

int main(int argc, char** argv) {
  const std::optional<config> cfg = parse_command_line(argc, argv);
  if (!cfg) {
    std::fprintf(stderr, "usage: %s [--port N] [--deadline-ms N]\n", argv[0]);
    return 2;
  }

  // Declared first, destroyed last: until the runtime is gone, an ask may
  // still complete and post its callback here.
  net::io_context io;
  troupe::runtime rt;  // one worker per core
  troupe::actor_system system(rt);
  const services svc{
      .store = system.spawn<kv_store>(),
      .slow = system.spawn<slow_backend>(),
      // Four requests at most, waiting or in progress; a fifth is refused at
      // once (mailbox_full: 503) rather than queued toward a 504.
      .work =
          system.spawn<worker>(troupe::spawn_options{.capacity = 4, .policy = troupe::overflow_policy::fail}),
      .deadline = cfg->deadline,
  };

  std::shared_ptr<listener> server;
  try {
    server =
        std::make_shared<listener>(io, tcp::endpoint(net::ip::make_address("127.0.0.1"), cfg->port), svc);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "http_server: cannot listen on 127.0.0.1:%u: %s\n", cfg->port, e.what());
    return 1;
  }
  std::printf("listening on 127.0.0.1:%u\n", server->port());
  std::fflush(stdout);  // a test reads the port from this line
  server->run();

  std::promise<void> stop;
  std::future<void> stopped = stop.get_future();
  net::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](beast::error_code, int) {
    server->stop();
    stop.set_value();
  });

  // Asio's threads are the server's own, outside the runtime: they make asks
  // and write answers, and never wait for an actor.
  std::vector<std::thread> io_threads;
  for (int i = 0; i < 2; ++i) io_threads.emplace_back([&io] { io.run(); });

  // Shutdown happens here, on the main thread, because it waits.
  stopped.wait();
  system.shutdown();  // accepted requests are answered; new asks fail at once with system_stopped (503)
  io.stop();          // then drop idle keep-alive connections
  for (auto& t : io_threads) t.join();

  const troupe::dead_letter_counts dead = system.stats().dead_letters;
  std::printf("stopped: %llu mailbox_full, %llu expired, %llu unanswered\n",
              static_cast<unsigned long long>(dead[troupe::dead_letter_reason::mailbox_full]),
              static_cast<unsigned long long>(dead[troupe::dead_letter_reason::expired]),
              static_cast<unsigned long long>(dead[troupe::dead_letter_reason::unanswered]));
  // Destruction in reverse: the actor system, the runtime (late completions
  // post into the stopped io_context), then the io_context.
}
