"""Services: the behaviour of the app, free of HTTP. Views, receivers, commands and tasks call them."""
