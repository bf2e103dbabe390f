-- Seed data exported from production on 2024-03-14 (do not commit!)
INSERT INTO employees (id, full_name, email, ssn, salary_account, hired_on) VALUES
  (1, 'Marcus Whitfield', 'marcus.whitfield@harborline.us', '198-81-8238', 'AT40 9358 5964 2172 7511', '2019-04-01'),
  (2, 'Priya Raman', 'priya.raman@harborline.us', '377-81-1488', 'CH85 4627 8315 0814 0646 0', '2020-09-15'),
  (3, 'Daniel Osei', 'daniel.osei@harborline.us', '591-15-3585', 'BE28 9795 1801 0620', '2021-01-11'),
  (4, 'Hannah Kowalczyk', 'hannah.k@harborline.us', '250-17-7480', 'ES55 3214 0814 9309 3801 6882', '2022-06-20');
