/* The page-not-found page: static words, but the header and its language switch like every page. */
App.start(() => {});
