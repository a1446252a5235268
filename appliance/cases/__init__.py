"""Reports and their cases: filing, the workflow and deadlines, messages, notes, attachments,
persons named in a case, the case key pair and its sealed copies, and read models for the pages."""
