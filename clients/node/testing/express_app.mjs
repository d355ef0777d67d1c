// An Express app module for the examples/express.js test: exports `app`, does not listen.
import express from 'express';

export const app = express();
app.use(express.urlencoded({ extended: false }));
app.get('/', (req, res) => res.type('text/plain').send('Hello from Express'));
app.post('/form', (req, res) => res.json(req.body));
