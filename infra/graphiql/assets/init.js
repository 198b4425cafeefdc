// Renders GraphiQL against Arkiv's endpoint: queries and mutations over HTTP, subscriptions
// over graphql-transport-ws on the same path. Credentials go in the headers editor, e.g.
// {"Authorization": "Bearer ak_…"}; nothing is fetched from anywhere but this server.
(function () {
  var root = document.getElementById('graphiql');
  var endpoint = root.getAttribute('data-endpoint');
  var ws = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + endpoint;
  var fetcher = GraphiQL.createFetcher({ url: endpoint, subscriptionUrl: ws });
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, { fetcher: fetcher, defaultEditorToolbarOpen: true, shouldPersistHeaders: false })
  );
})();
